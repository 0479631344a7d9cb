# desc: the gate lets the producer one token past the slowest reader + bufferSize
replace DefaultStream.java '    long allowed = gate() + capacity;' '    long allowed = gate() + capacity + 1;'
replace DefaultStream.java '      allowed = Math.min(allowed, gate() + capacity);' '      allowed = Math.min(allowed, gate() + capacity + 1);'
