"""Which scheduled slot a run belongs to, and which day of orders that slot reports on.

The slot (the schedule's most recent fire time) is the run's identity: Kubernetes may start a run
late, twice or retry it, but every one of those runs computes the same slot, so the ledger can tell
that the work is already done. croniter is the cron library here because it reads the same 5-field
syntax as Kubernetes and iterates in a time zone, including across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter


class SlotError(ValueError):
    """A slot given for a backfill is not one of the schedule's fire times."""


def latest_slot(schedule: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The schedule's most recent fire time at or before `now`, in `zone`."""
    minute = now.astimezone(zone).replace(second=0, microsecond=0)
    # A run started within the very minute of its fire time belongs to that fire time; croniter's
    # get_prev alone would return the one before it.
    if croniter.match(schedule, minute):
        return minute
    previous: datetime = croniter(schedule, minute).get_prev(datetime)
    return previous.astimezone(zone)


def checked_slot(schedule: str, zone: ZoneInfo, slot: datetime) -> datetime:
    """A slot given for a backfill, read in `zone` when naive; refused unless it is a fire time."""
    local = slot.replace(tzinfo=zone) if slot.tzinfo is None else slot.astimezone(zone)
    if local.second or local.microsecond or not croniter.match(schedule, local):
        raise SlotError(
            f"slot {local.isoformat()} is not a fire time of the schedule '{schedule}' "
            f"in {zone.key}; give one such as {latest_slot(schedule, zone, local).isoformat()}"
        )
    return local


@dataclass(frozen=True)
class ReportWindow:
    """The calendar day a slot reports on, as a half-open interval [start, end) in the zone."""

    day: date
    start: datetime
    end: datetime


def report_window(slot: datetime, zone: ZoneInfo) -> ReportWindow:
    """The day before the slot's local date: a run at 02:00 on the 25th reports on the 24th."""
    day = slot.astimezone(zone).date() - timedelta(days=1)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return ReportWindow(day=day, start=start, end=end)
