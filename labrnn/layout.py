"""The reports directory's file names, read by the modules that write them (`sweep`) and the index that links
them (`export`), so that the index needs nothing from the sweep."""
COMPARISON, RECORD = "comparison.html", "sweep.json"
