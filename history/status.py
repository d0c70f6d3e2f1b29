"""The statuses a run can show (Luigi's wire strings), for filter menus."""

STATUSES = ("PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN")
