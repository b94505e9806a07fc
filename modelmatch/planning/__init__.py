"""Deciding what to run: memory from the real architecture, speed rooflines, cost, the plan and the wizard."""
