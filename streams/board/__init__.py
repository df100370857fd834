"""`dealpulse top`: a worker's sales board in the terminal, read from its /metrics.

scrape    the page, over HTTP(S) with the worker's credentials, parsed as Prometheus does
quantile  PromQL's histogram_quantile, for the median sales cycle
model     samples -> BoardSnapshot (pure: no I/O, no clock)
render    BoardSnapshot -> a rich renderable
live      one frame (`board_frame`, for the demo), or a live board until Ctrl-C
"""
