# desc: detach() no longer wakes a producer parked on the gate (a lost wake-up when a reader leaves)
replace DefaultStream.java '    wakeProducer();
    if (finished || readers.length != 0) {' '    if (finished || readers.length != 0) {'
