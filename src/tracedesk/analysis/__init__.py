"""Analysis over what the store returns: workbench metrics, trajectory and topology graphs, text checks."""
