"""The recommendation wizard; `recommend.recommend` is the entry and its docstring says how a recommendation reads."""
