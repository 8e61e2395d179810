"""Face finding, tracking and real/fake scoring."""
