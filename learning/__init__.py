"""The loop that turns users' ratings into better generators (issue 9): data, registry, cycle, gate, schedule."""
