from datetime import datetime

from learnlab.live.models import Change


def topic_versions(keys: list[str]) -> dict[str, int]:
    """Each topic's version now (0: never changed)."""
    found = dict(Change.objects.filter(key__in=keys).values_list("key", "version"))
    return {key: found.get(key, 0) for key in keys}


def changes_since(moment: datetime | None) -> list[tuple[str, int, datetime]]:
    """(topic, version, changed at) of every topic changed at or after ``moment`` (all: None)."""
    rows = Change.objects.all() if moment is None else Change.objects.filter(changed_at__gte=moment)
    return list(rows.values_list("key", "version", "changed_at"))
