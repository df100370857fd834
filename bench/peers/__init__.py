"""The peers dealpulse is compared with, each an app run as its own process.

`faust_plain` runs in the project's venv; `quix_app` in the separate venv that
`make bench` creates (Quix Streams pins versions that conflict with ours).
Neither imports `streams`: they are what a user would write without dealpulse.
"""
