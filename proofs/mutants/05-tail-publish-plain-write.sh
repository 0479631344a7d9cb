# desc: send publishes its token with a plain write of the tail instead of a CAS (races the terminal CAS)
replace DefaultStream.java '    if (!TAIL.compareAndSet(this, t, t + 1)) {' '    tail = t + 1;
    if (false) {'
