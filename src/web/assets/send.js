// Progress bars and drag-and-drop for the send page.
