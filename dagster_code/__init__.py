"""The Dagster code location: Launchpad's metadata turned into assets, checks and sensors."""
