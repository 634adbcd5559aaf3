"""Estimators (ask/tell): plan coalitions, then solve from their values."""
