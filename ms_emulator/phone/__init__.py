"""MoySklad Phone API 1.0 (`/api/phone/1.0`): calls, call-card events and the extension directory."""
