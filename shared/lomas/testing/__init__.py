"""In-memory fakes of every port and small data factories, for tests."""
