"""Intake: events in (Event Grid, alerts, schedules, operators), routing of blobs, coalescing into runs."""
