package gateway

import "encoding/binary"

// WebSocket opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
)

// Close codes the gateway reports (RFC 6455, section 7.4.1).
const (
	closeNormal     = 1000
	closeGoingAway  = 1001
	closeNoStatus   = 1005 // a close frame without a code
	closeAbnormal   = 1006 // no close frame at all: the connection just ended
	maxFrameMessage = 1 << 20
)

// frameReader follows the frames of one direction of a WebSocket
// connection as its bytes pass through the gateway (RFC 6455, section 5.2).
// It only watches: the bytes are relayed unchanged whatever it makes of
// them, so a frame it cannot follow costs statistics, never traffic. It
// reports each complete text message (unmasked, up to maxFrameMessage
// bytes, or its start and truncated) and each close frame's code.
type frameReader struct {
	onText  func(msg []byte, truncated bool) // nil: text messages are not kept
	onClose func(code int)

	head      [14]byte
	headLen   int    // bytes of head read so far
	remaining uint64 // payload bytes left in the current frame
	opcode    byte
	fin       bool
	masked    bool
	key       [4]byte
	keyPos    int

	msg       []byte // the text message being assembled
	inText    bool   // a text message is in progress (continuations follow)
	compress  bool   // the message is compressed (RSV1): not readable
	truncated bool
	control   []byte // the payload of the current control frame
}

// feed reads bytes of the stream.
func (f *frameReader) feed(p []byte) {
	for len(p) > 0 {
		if f.headLen >= 0 {
			n, ok := f.readHead(p)
			p = p[n:]
			if !ok {
				return
			}
			f.startFrame()
			if f.remaining == 0 {
				f.endFrame()
			}
			continue
		}
		n := int(min(uint64(len(p)), f.remaining))
		f.payload(p[:n])
		p = p[n:]
		f.remaining -= uint64(n)
		if f.remaining == 0 {
			f.endFrame()
		}
	}
}

// readHead takes head bytes from p and reports how many it used and
// whether the head is complete.
func (f *frameReader) readHead(p []byte) (int, bool) {
	used := 0
	for {
		need := 2
		if f.headLen >= 2 {
			need = headSize(f.head[0], f.head[1])
		}
		if f.headLen == need {
			return used, true
		}
		if used == len(p) {
			return used, false
		}
		f.head[f.headLen] = p[used]
		f.headLen++
		used++
	}
}

// headSize is the length of a frame head given its first two bytes.
func headSize(_, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func (f *frameReader) startFrame() {
	b0, b1 := f.head[0], f.head[1]
	f.fin, f.opcode, f.masked = b0&0x80 != 0, b0&0x0f, b1&0x80 != 0
	rsv1 := b0&0x40 != 0
	i := 2
	switch n := b1 & 0x7f; n {
	case 126:
		f.remaining = uint64(binary.BigEndian.Uint16(f.head[2:4]))
		i = 4
	case 127:
		f.remaining = binary.BigEndian.Uint64(f.head[2:10])
		i = 10
	default:
		f.remaining = uint64(n)
	}
	if f.masked {
		copy(f.key[:], f.head[i:i+4])
	}
	f.keyPos, f.headLen = 0, -1
	f.control = f.control[:0]
	switch f.opcode {
	case opText:
		f.inText, f.compress, f.truncated, f.msg = true, rsv1, false, f.msg[:0]
	case opContinuation:
	default:
		if f.opcode < opClose { // a binary message ends any text one
			f.inText = false
		}
	}
}

// payload takes payload bytes of the current frame.
func (f *frameReader) payload(p []byte) {
	control := f.opcode >= opClose
	keep := control || (f.opcode <= opText && f.inText && f.onText != nil && !f.compress)
	if !keep {
		f.keyPos = (f.keyPos + len(p)) % 4
		return
	}
	for _, c := range p {
		if f.masked {
			c ^= f.key[f.keyPos]
			f.keyPos = (f.keyPos + 1) % 4
		}
		switch {
		case control:
			if len(f.control) < 125 {
				f.control = append(f.control, c)
			}
		case len(f.msg) < maxFrameMessage:
			f.msg = append(f.msg, c)
		default:
			f.truncated = true
		}
	}
}

func (f *frameReader) endFrame() {
	f.headLen = 0
	switch {
	case f.opcode == opClose:
		code := closeNoStatus
		if len(f.control) >= 2 {
			code = int(binary.BigEndian.Uint16(f.control[:2]))
		}
		if f.onClose != nil {
			f.onClose(code)
		}
	case f.opcode <= opText && f.fin && f.inText:
		f.inText = false
		if f.onText != nil && !f.compress {
			f.onText(f.msg, f.truncated)
		}
	}
}
