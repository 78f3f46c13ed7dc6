"""Use cases. Each receives its ports through a Context; none reads the environment."""
