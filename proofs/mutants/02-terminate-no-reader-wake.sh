# desc: terminate() emits the terminal but does not wake the readers (a lost wake-up at the end)
replace DefaultStream.java '    terminal = new StreamEvent.Terminal(count + 1, result);
    for (DefaultReader r : readers) {
      r.wake();
    }' '    terminal = new StreamEvent.Terminal(count + 1, result);'
