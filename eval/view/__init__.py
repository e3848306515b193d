"""`agentgym view`: a local web app over trajectories, run reports, live runs, and a page to play any env."""
