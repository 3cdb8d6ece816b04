"""Event types: one mapping for every way in.

Stored types are Segment's (`track page screen identify alias group`) plus the native API's own
(`click conversion custom`). The seed API's names are accepted as aliases of those (`page_view` is
a `page`, `screen_view` a `screen`), so a `page_view` sent to `/api/v1/events/track` and a Segment
`page` are the same thing in storage and in every query (`{"event_type": "page_view"}` in a query
matches both).

Types with a fixed event name store that name, as Segment and PostHog do (`$pageview`, `$screen`,
`$identify`, `$create_alias`, `$group`); a name sent with such an event is kept as the `name`
property (Segment's page name). `track`, `click`, `conversion` and `custom` events are named by
the client.
"""

from __future__ import annotations

STORED_TYPES = ("track", "page", "screen", "identify", "alias", "group", "click", "conversion", "custom")

ALIASES = {"page_view": "page", "pageview": "page", "screen_view": "screen"}

# Every name a client or a query may use for a type.
ACCEPTED_TYPES = frozenset(STORED_TYPES) | frozenset(ALIASES)

FIXED_EVENT_NAMES = {
    "page": "$pageview", "screen": "$screen", "identify": "$identify", "alias": "$create_alias", "group": "$group",
}


def canonical_type(name: str) -> str | None:
    """The stored type for an accepted name, or None for an unknown one."""
    name = ALIASES.get(name, name)
    return name if name in FIXED_EVENT_NAMES or name in STORED_TYPES else None
