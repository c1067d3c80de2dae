"""Running the searches elsewhere: replicas of the runner on a Ray cluster, fed by the driver that writes the run."""
