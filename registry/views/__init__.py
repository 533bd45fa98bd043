"""The registry pages: models, a model, a version. One module per page; views parse, call ``registry.store``, render."""
