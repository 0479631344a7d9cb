# desc: a leaving reader does not raise the floor (with no reader left the producer is gated at an old position)
replace DefaultStream.java '    if (position != DefaultReader.GONE) {
      raiseFloor(position);
    }' ''
