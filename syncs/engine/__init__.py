"""The sync engine: discover, then per stream read -> write, batch by batch, with checkpoints,
heartbeats and cancellation (`runner`, `progress`), where each stream's read starts
(`resume`), and the read-ahead of source batches (`prefetch`).

It lives in `syncs` because it exists only to run a `syncs` job: the app that owns jobs owns
the engine that runs them, and an app that grows a concern gets a sub-package, not a
top-level folder. The engine orchestrates: every row of a job it writes (the job, its
streams, the stream state mirror, the loaded schema, schema changes, backfills, the
connector's table names) goes through the `syncs` services.
"""
