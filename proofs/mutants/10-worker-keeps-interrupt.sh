# desc: the worker does not clear the interrupt meant for its source (it leaks to the next stream)
replace DefaultStream.java '        Thread.interrupted(); // our interrupt, meant for the source, not for the executor'"'"'s thread' '        // interrupt not cleared'
