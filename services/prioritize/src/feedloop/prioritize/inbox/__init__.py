"""The answer queue: questions and one-order requests, each answered by an owner."""
