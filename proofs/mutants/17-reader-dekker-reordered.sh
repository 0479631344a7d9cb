# desc: a reader decides to park before publishing its waiter (its Dekker pair with the producer reordered)
replace DefaultReader.java '      waiter = Thread.currentThread();
      if (stream.tailVolatile() == t && cursor == c && !closed && stream.terminalEvent() == null) {' '      boolean mustPark = stream.tailVolatile() == t && cursor == c && !closed && stream.terminalEvent() == null;
      waiter = Thread.currentThread();
      if (mustPark) {'
