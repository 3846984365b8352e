"""`jiesu bench`: the whole workflow under load, measured against the machine's raw limits."""
