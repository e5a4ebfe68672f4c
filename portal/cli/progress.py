"""Progress of an operator command's long work (``flask billing run``, ``flask invoices
export``): in a terminal, a bar with the count and an estimate of the time left (click's
``progressbar``); otherwise (a log file, cron, a pipe) one summary line at the end.

    with Progress("Renewals") as progress:
        run_billing(day, progress=progress)   # calls progress(done, total)

Whether the output is a terminal is asked of ``file`` (``isatty()``) unless ``interactive``
says it: the tests decide it either way. A command that ends with a summary of its own passes
``summary=False``.
"""
import sys
import time

import click


class Progress:
    """A callable ``progress(done, total)`` for the work, shown as a bar or summed up."""

    def __init__(self, label, interactive=None, file=None, clock=time.monotonic, summary=True):
        """``label`` names the work ("Renewals"); ``file`` is where it is shown (stdout)."""
        self.label = label
        self.write_summary = summary
        self.file = file if file is not None else sys.stdout
        self.interactive = self.file.isatty() if interactive is None else interactive
        self.clock = clock
        self.done = self.total = 0
        self.bar = None
        self.started = None

    def __enter__(self):
        """Start the clock; the bar starts with the first call, when the total is known."""
        self.started = self.clock()
        return self

    def __call__(self, done, total):
        """``done`` of ``total`` items are finished."""
        if self.interactive and self.bar is None and total:
            self.bar = click.progressbar(length=total, label=self.label, show_eta=True,
                                         show_pos=True, show_percent=False, file=self.file)
            self.bar.__enter__()
        if self.bar is not None:
            if done > self.done:
                self.bar.update(done - self.done)
        self.done, self.total = done, total

    def __exit__(self, *exc):
        """Close the bar, or write the summary line."""
        if self.bar is not None:
            self.bar.__exit__(*exc)
        elif not self.interactive and self.write_summary and exc[0] is None:
            click.echo(self.summary(), file=self.file)
        return False

    def summary(self):
        """One line: how many, how long, how many per second."""
        seconds = self.clock() - self.started
        rate = f", {self.done / seconds:.1f}/s" if seconds > 0 and self.done else ""
        return f"{self.label}: {self.done} of {self.total} in {seconds:.1f} s{rate}"
