"""Queues: one small interface (``base.Queue``), two adapters — Redis Streams and a database table."""
