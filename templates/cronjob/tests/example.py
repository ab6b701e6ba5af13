"""The schedule the tests run the job with, whatever the CronJob's is, so that their slots and
report days are fixed facts: the 02:00 UTC run of the 25th reports on the 24th (UTC)."""

SCHEDULE = "0 2 * * *"
TIMEZONE = "Etc/UTC"
EXAMPLE_SCHEDULE = {"SCHEDULE": SCHEDULE, "TIMEZONE": TIMEZONE}
