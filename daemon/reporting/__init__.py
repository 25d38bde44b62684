"""Reporting: the read-side queries over incidents and audit, the period summary of
`warden report`, and the HTML incident page."""
