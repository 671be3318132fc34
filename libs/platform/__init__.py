"""What every service process shares: settings, authentication, telemetry, HTTP and runtime."""
