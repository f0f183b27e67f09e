"""Click-to-call from MoySklad (contract §9): ``POST /ms/webhook/<webhook_uuid>`` → a background
originate on the enterprise's PBX, recorded in ``ms_originates`` for the call flow to match
(:func:`ms_plugin.click_to_call.originates.match_originate`)."""
