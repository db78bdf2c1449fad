"""The caseworker console at /console: sign-in (auth), the work on handoffs (casework), the pages (routes)."""
