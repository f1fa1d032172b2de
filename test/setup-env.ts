// Google client libraries must never probe the GCE metadata server in tests.
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.BROKER_LOG ??= 'silent';
