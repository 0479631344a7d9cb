# desc: the producer decides to park before publishing its waiter (its Dekker pair with the readers reordered)
replace DefaultStream.java '      producerWaiter = me;
      if (seq > permitted() && statusOf(tail) == S_RUNNING) {' '      boolean mustPark = seq > permitted() && statusOf(tail) == S_RUNNING;
      producerWaiter = me;
      if (mustPark) {'
