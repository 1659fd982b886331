"""Rule files on disk -> validated programs with file:line:column errors; the live rule set."""
