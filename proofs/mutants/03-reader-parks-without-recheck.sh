# desc: a reader parks without re-checking tail and terminal after publishing its waiter
replace DefaultReader.java 'if (stream.tailVolatile() == t && cursor == c && !closed && stream.terminalEvent() == null) {' 'if (cursor == c && !closed) {'
