"""Your own evals: eval sets, scoring, the runner, the results store, summaries and the command line."""
