# desc: seed bug #3, the muted messenger: cancellation is checked before the last-gasp write, so a cancelled stream emits no terminal
replace DefaultStream.java '    terminal = new StreamEvent.Terminal(count + 1, result);' '    if (status != S_CANCELLED) {
      terminal = new StreamEvent.Terminal(count + 1, result);
    }'
