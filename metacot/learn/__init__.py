"""Does the data teach search? Small models trained from scratch on each trace format, measured on held-out problems."""
