"""The tracking pages: experiments, runs, run comparison and the artifacts component. One module per page; each
view parses the request, makes one call into ``tracking.store`` (or a page query module beside it) and renders."""
