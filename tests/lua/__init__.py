"""Contract tests of the Lua scripts: each call's reply and the whole key state after it."""
