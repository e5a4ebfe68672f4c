"""Pages of a long list: the ``?page=`` parameter, the query's page and where it sits.

Templates show it with the ``pager`` macro of ``templates/macros.html``.
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Pagination:
    """Where a page sits in a list of ``total`` rows shown ``size`` at a time."""

    page: int
    pages: int
    total: int
    size: int

    @property
    def first_index(self):
        """1-based position of the page's first row (0 when there is none)."""
        return 0 if not self.total else (self.page - 1) * self.size + 1

    @property
    def last_index(self):
        """1-based position of the page's last row."""
        return min(self.total, self.page * self.size)


def page_number(raw):
    """``?page=`` as a positive integer (at most nine digits); anything else is page 1."""
    if not raw or not str(raw).isdigit() or len(str(raw)) > 9:
        return 1
    return max(1, int(raw))


def paginate(query, page, size, count_query=None):
    """(rows of page ``page`` of ``query``, Pagination): a COUNT, then the page itself.

    ``count_query`` counts the same rows more cheaply when ``query`` joins tables that never
    change the number of rows (a LEFT JOIN on a unique key): counting 50,000 users through
    such a join costs twenty times the count of the users alone.
    A page past the end shows the last one (a list may shrink while someone reads it).
    """
    total = (count_query if count_query is not None else query).count()
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)
    return list(query.paginate(page, size)), Pagination(page=page, pages=pages, total=total,
                                                         size=size)
