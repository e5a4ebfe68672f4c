"""``flask --app portal translate ...``: pybabel for translators (TRANSLATING.md)."""
import glob
import os
import re
import tempfile

import click
from babel import Locale, UnknownLocaleError
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po
from flask import current_app
from flask.cli import AppGroup

from portal.core.config import ROOT

translate_cli = AppGroup("translate", help="Extract, update, compile and check the translations.")

#: The language of the msgids: its catalog is filled from them on ``update``.
SOURCE_LANGUAGE = "en"

#: Keywords besides Babel's defaults (``_``, ``gettext``, ``ngettext``...): lazy strings.
EXTRA_KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2")


def translations_dir():
    """The folder holding ``messages.pot`` and one ``<lang>/LC_MESSAGES`` folder per language."""
    return current_app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";")[0]


def pot_path():
    """The committed template every catalog is merged from."""
    return os.path.join(translations_dir(), "messages.pot")


def catalog_paths():
    """``{lang: path of its .po}`` for every language folder under ``translations/``."""
    paths = glob.glob(os.path.join(translations_dir(), "*", "LC_MESSAGES", "messages.po"))
    return {path.split(os.sep)[-3]: path for path in sorted(paths)}


def _pybabel(*args):
    """Run one pybabel command in-process; a failure becomes a clean CLI error."""
    try:
        CommandLineInterface().run(["pybabel", "--quiet", *args])
    except SystemExit as exc:  # pybabel reports bad options by exiting
        if exc.code:
            raise click.ClickException(f"pybabel {args[0]} failed (exit status {exc.code}).")
    except Exception as exc:  # a translator gets one line, not a traceback
        raise click.ClickException(f"pybabel {args[0]} failed: {exc}")


def extract_messages(output):
    """Write the template of every string marked in ``portal/`` and ``templates/`` to OUTPUT."""
    keywords = [arg for keyword in EXTRA_KEYWORDS for arg in ("-k", keyword)]
    # No locations and sorted output: the .pot changes only when a message does.
    _pybabel("extract", "-F", os.path.join(ROOT, "babel.cfg"), "-o", output, *keywords,
             "--sort-output", "--no-location", "--project", "Centro fatturazione",
             "--copyright-holder", "Centro fatturazione", ROOT)


def read_po_file(path):
    """A .po or .pot file as a Babel catalog."""
    with open(path, "rb") as handle:
        return read_po(handle)


def fill_source_catalog(path):
    """Copy each new msgid (and msgid_plural) into the empty translation of the English catalog."""
    catalog, filled = read_po_file(path), 0
    for message in catalog:
        if message.id and not is_translated(message):
            message.string = message.id
            filled += 1
    if filled:
        with open(path, "wb") as handle:
            write_po(handle, catalog, width=79)
    return filled


def message_ids(catalog):
    """The set of message ids (a tuple for plurals) of a catalog, header excluded."""
    return {message.id for message in catalog if message.id}


def is_translated(message):
    """True when every form of the message has a translation."""
    forms = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    return bool(forms) and all(forms)


def placeholders(text):
    """The ``%(name)s`` placeholders of a text or of all the forms of a plural."""
    forms = text if isinstance(text, (list, tuple)) else (text,)
    return {name for form in forms for name in re.findall(r"%\((\w+)\)", form or "")}


def catalog_stats(catalog):
    """Counts for ``flask translate status``."""
    messages = [message for message in catalog if message.id]
    fuzzy = sum(1 for message in messages if message.fuzzy)
    untranslated = sum(1 for message in messages if not is_translated(message))
    translated = sum(1 for message in messages if is_translated(message) and not message.fuzzy)
    return {"messages": len(messages), "translated": translated, "fuzzy": fuzzy,
            "untranslated": untranslated, "obsolete": len(catalog.obsolete),
            # Rounded down: 100 % only when nothing is left to do.
            "percent": translated * 100 // len(messages) if messages else 100}


def catalog_problems(lang, catalog, template_ids):
    """Human-readable problems of one catalog: everything a translator must fix."""
    problems = []
    if message_ids(catalog) != template_ids:
        problems.append("out of date with messages.pot: run `flask translate update`")
    for message in catalog:
        if not message.id:
            continue
        label = message.id[0] if isinstance(message.id, tuple) else message.id
        if message.fuzzy:
            problems.append(f"fuzzy (check it, then remove the fuzzy flag): {label!r}")
        if not is_translated(message):
            problems.append(f"untranslated: {label!r}")
        elif message.pluralizable and len(message.string) != catalog.num_plurals:
            problems.append(f"needs {catalog.num_plurals} plural forms: {label!r}")
        for error in message.check(catalog):
            problems.append(f"{error}: {label!r}")
        if is_translated(message) and placeholders(message.string) != placeholders(message.id):
            problems.append(f"placeholders differ from the English text: {label!r}")
    for message_id in catalog.obsolete:
        problems.append(f"obsolete (delete it, or run `flask translate update`): {message_id!r}")
    return [f"{lang}: {problem}" for problem in problems]


@translate_cli.command("extract")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the template here instead of translations/messages.pot.")
def translate_extract(output):
    """Regenerate messages.pot from the code and the templates."""
    output = output or pot_path()
    extract_messages(output)
    click.echo(f"{len(message_ids(read_po_file(output)))} messages written to {output}.")


@translate_cli.command("update")
def translate_update():
    """Merge messages.pot into every catalog (new strings empty, removed strings dropped).

    The English catalog needs no translator: its new entries are the English text itself.
    """
    _pybabel("update", "-i", pot_path(), "-d", translations_dir(), "--no-fuzzy-matching",
             "--ignore-obsolete", "--width", "79")
    click.echo(f"Updated {', '.join(catalog_paths())}.")
    source = catalog_paths().get(SOURCE_LANGUAGE)
    if source:
        filled = fill_source_catalog(source)
        click.echo(f"{SOURCE_LANGUAGE}: {filled} new messages copied from the English text.")


@translate_cli.command("init")
@click.argument("lang")
def translate_init(lang):
    """Start the catalog of a new language LANG (a code such as fr or pt_BR)."""
    try:
        Locale.parse(lang)
    except (ValueError, UnknownLocaleError):
        raise click.ClickException(f"{lang!r} is not a language code Babel knows.")
    if lang in catalog_paths():
        raise click.ClickException(f"{lang} exists already: use `flask translate update`.")
    _pybabel("init", "-i", pot_path(), "-d", translations_dir(), "-l", lang, "--width", "79")
    click.echo(f"Created translations/{lang}/LC_MESSAGES/messages.po. Add {lang!r} to "
               "LANGUAGES in portal/config.py so the language switcher lists it.")


@translate_cli.command("compile")
def translate_compile():
    """Build the .mo files the portal reads (fuzzy entries are left out)."""
    _pybabel("compile", "-d", translations_dir(), "-f")
    click.echo(f"Compiled {', '.join(catalog_paths())}.")


@translate_cli.command("status")
def translate_status():
    """Print per language how many messages are translated, fuzzy or missing."""
    click.echo(f"{'language':<10}{'messages':>10}{'translated':>12}{'fuzzy':>7}"
               f"{'untranslated':>14}{'obsolete':>10}{'complete':>10}")
    for lang, path in catalog_paths().items():
        s = catalog_stats(read_po_file(path))
        click.echo(f"{lang:<10}{s['messages']:>10}{s['translated']:>12}{s['fuzzy']:>7}"
                   f"{s['untranslated']:>14}{s['obsolete']:>10}{s['percent']:>9}%")


@translate_cli.command("check")
def translate_check():
    """Everything a translator must fix, or a success line (exit status 1 on problems)."""
    committed = message_ids(read_po_file(pot_path()))
    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, "messages.pot")
        extract_messages(fresh)
        current = message_ids(read_po_file(fresh))
    problems = []
    if committed != current:
        problems.append(f"messages.pot is out of date ({len(current - committed)} new, "
                        f"{len(committed - current)} removed): run `flask translate extract` "
                        "and `flask translate update`")
    for lang, path in catalog_paths().items():
        problems += catalog_problems(lang, read_po_file(path), committed)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in the translations.")
    click.echo(f"All catalogs ({', '.join(catalog_paths())}) are complete and up to date.")


GROUPS = (translate_cli,)
