# desc: seed bug #1, zombie writer: send parks without re-checking the status after publishing its waiter
replace DefaultStream.java '      if (seq > permitted() && statusOf(tail) == S_RUNNING) {' '      if (seq > permitted()) {'
