"""Requests about a person's data (docs/privacy.md, Requests): what every service holds of
them (access), and erasing it (erasure), each service answering for its own data."""
